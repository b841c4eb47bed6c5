// SynthCV: UnrealCV commands for synth (see ue_plugin/README.md).
#include "SynthCommands.h"

#include "Animation/AnimSequence.h"
#include "Animation/AnimSingleNodeInstance.h"
#include "Animation/SkeletalMeshActor.h"
#include "Components/CapsuleComponent.h"
#include "Components/SceneCaptureComponent2D.h"
#include "Components/SkeletalMeshComponent.h"
#include "Engine/LevelScriptActor.h"
#include "Engine/SkeletalMesh.h"
#include "Engine/World.h"
#include "EngineUtils.h"
#include "GameFramework/Character.h"
#include "Kismet/GameplayStatics.h"
#include "Misc/OutputDeviceNull.h"
#include "Misc/PackageName.h"
#include "Runtime/Launch/Resources/Version.h"

#include "BPFunctionLib/SensorBPLib.h"
#include "Sensor/CameraSensor/FusionCamSensor.h"
#include "Server/CommandDispatcher.h"
#include "Server/UnrealcvServer.h"

namespace
{
	// Keep in step with PLUGIN_VERSION in synth/render/unreal/protocol.py.
	const TCHAR* SynthCVVersion = TEXT("1.0");

	// The level Blueprint's custom event that applies a lighting preset: SynthSetLighting(Preset: String).
	const TCHAR* LightingEvent = TEXT("SynthSetLighting");

	UWorld* GameWorld()
	{
		return FUnrealcvServer::Get().GetWorld();
	}

	/** "/Game/Maps/Foo.Foo" or "/Game/Maps/Foo" -> "/Game/Maps/Foo" (also what GetMap reports). */
	FString MapPackage(const FString& Asset)
	{
		FString Package, Object;
		return Asset.Split(TEXT("."), &Package, &Object) ? Package : Asset;
	}

	FString WorldPackage(UWorld* World)
	{
		return UWorld::RemovePIEPrefix(World->GetPackage()->GetName());
	}

	FExecStatus Errorf(const FString& Message)
	{
		return FExecStatus::Error(Message);
	}
}

void FSynthCommands::Register(FCommandDispatcher& Dispatcher)
{
	TSharedRef<FSynthCommands> Self = AsShared();
	auto Bind = [&Dispatcher, Self](const TCHAR* Uri, FExecStatus (FSynthCommands::*Handler)(const TArray<FString>&),
									const TCHAR* Help)
	{
		Dispatcher.BindCommand(Uri, FDispatcherDelegate::CreateLambda(
			[Self, Handler](const TArray<FString>& Args) { return ((*Self).*Handler)(Args); }), Help);
	};
	Bind(TEXT("vget /synth/version"), &FSynthCommands::GetVersion, TEXT("SynthCV plugin version"));
	Bind(TEXT("vset /synth/map [str]"), &FSynthCommands::OpenMap,
		TEXT("Open a map by package path; poll vget /synth/map until it reports ready"));
	Bind(TEXT("vget /synth/map"), &FSynthCommands::GetMap,
		TEXT("Current map package path and 'ready' (world has begun play) or 'loading'"));
	Bind(TEXT("vset /synth/lighting [str]"), &FSynthCommands::SetLighting,
		TEXT("Apply a lighting preset: calls the level Blueprint's SynthSetLighting(Preset) event"));
	Bind(TEXT("vset /synth/character/spawn [str] [str] [float] [float] [float] [float]"), &FSynthCommands::SpawnCharacter,
		TEXT("Spawn a character: name, asset (Blueprint class or skeletal mesh path), feet x y z (cm), yaw (deg)"));
	Bind(TEXT("vset /synth/character/[str]/animation [str]"), &FSynthCommands::SetAnimation,
		TEXT("Play an animation sequence (asset path) on the character, stopped at time 0"));
	Bind(TEXT("vset /synth/character/[str]/time [float]"), &FSynthCommands::SetAnimationTime,
		TEXT("Pose the character at an animation time (s); works while the game is paused"));
	Bind(TEXT("vget /synth/character/[str]/bones"), &FSynthCommands::GetBones,
		TEXT("Bone world positions, one 'name x y z' (cm) per line"));
	Bind(TEXT("vset /synth/character/[str]/destroy"), &FSynthCommands::DestroyCharacter, TEXT("Remove the character"));
	Bind(TEXT("vset /synth/camera/[uint]/lens [float] [float] [float] [float]"), &FSynthCommands::SetLens,
		TEXT("Lens: focal length (mm), sensor width and height (mm), aperture (f-number)"));
}

FExecStatus FSynthCommands::GetVersion(const TArray<FString>& Args)
{
	return FExecStatus::OK(SynthCVVersion);
}

// --------------------------------------------------------------------------------------------------------- maps
FExecStatus FSynthCommands::OpenMap(const TArray<FString>& Args)
{
	UWorld* World = GameWorld();
	if (!World)
	{
		return Errorf(TEXT("No game world"));
	}
	const FString Package = MapPackage(Args[0]);
	if (!FPackageName::DoesPackageExist(Package))
	{
		return Errorf(FString::Printf(TEXT("Map %s not found (is it listed in the project's maps to cook?)"), *Package));
	}
	// UGameplayStatics::OpenLevel travels on a later tick: this reply comes before the new world exists, so the
	// client polls GetMap. Everything spawned in the old world (characters, UnrealCV cameras) goes with it.
	Characters.Empty();
	PendingMap = Package;
	UGameplayStatics::OpenLevel(World, FName(*Package), /*bAbsolute=*/true);
	return FExecStatus::OK();
}

FExecStatus FSynthCommands::GetMap(const TArray<FString>& Args)
{
	UWorld* World = GameWorld();
	if (!World)
	{
		return FExecStatus::OK(TEXT("/None loading"));
	}
	const FString Current = WorldPackage(World);
	const bool bArrived = PendingMap.IsEmpty() || Current == PendingMap;
	const bool bReady = bArrived && World->HasBegunPlay();
	if (bReady)
	{
		PendingMap.Empty();
	}
	return FExecStatus::OK(FString::Printf(TEXT("%s %s"), *Current, bReady ? TEXT("ready") : TEXT("loading")));
}

FExecStatus FSynthCommands::SetLighting(const TArray<FString>& Args)
{
	UWorld* World = GameWorld();
	ALevelScriptActor* LevelScript = World ? World->GetLevelScriptActor() : nullptr;
	if (!LevelScript)
	{
		return Errorf(TEXT("The map has no level Blueprint"));
	}
	if (!LevelScript->FindFunction(FName(LightingEvent)))
	{
		return Errorf(FString::Printf(TEXT("The level Blueprint of %s has no custom event %s(Preset: String)"),
			*WorldPackage(World), LightingEvent));
	}
	FOutputDeviceNull Output;
	const FString Call = FString::Printf(TEXT("%s %s"), LightingEvent, *Args[0]);
	if (!LevelScript->CallFunctionByNameWithArguments(*Call, Output, nullptr, /*bForceCallWithNonExec=*/true))
	{
		return Errorf(FString::Printf(TEXT("Calling %s failed"), *Call));
	}
	return FExecStatus::OK();
}

// --------------------------------------------------------------------------------------------------- characters
AActor* FSynthCommands::FindCharacter(UWorld* World, const FString& Name) const
{
	if (const TWeakObjectPtr<AActor>* Ours = Characters.Find(Name))
	{
		if (Ours->IsValid())
		{
			return Ours->Get();
		}
	}
	if (World)
	{
		for (TActorIterator<AActor> It(World); It; ++It)
		{
			if (IsValid(*It) && It->GetName() == Name)
			{
				return *It;
			}
		}
	}
	return nullptr;
}

USkeletalMeshComponent* FSynthCommands::FindMesh(const FString& Name, FString& OutError) const
{
	AActor* Actor = FindCharacter(GameWorld(), Name);
	if (!Actor)
	{
		OutError = FString::Printf(TEXT("No character %s"), *Name);
		return nullptr;
	}
	USkeletalMeshComponent* Mesh = Actor->FindComponentByClass<USkeletalMeshComponent>();
	if (!Mesh || !Mesh->GetSkeletalMeshAsset())
	{
		OutError = FString::Printf(TEXT("Character %s has no skeletal mesh"), *Name);
		return nullptr;
	}
	return Mesh;
}

FExecStatus FSynthCommands::SpawnCharacter(const TArray<FString>& Args)
{
	const FString& Name = Args[0];
	const FString& Asset = Args[1];
	const FVector Feet(FCString::Atod(*Args[2]), FCString::Atod(*Args[3]), FCString::Atod(*Args[4]));
	const double Yaw = FCString::Atod(*Args[5]);
	UWorld* World = GameWorld();
	if (!World)
	{
		return Errorf(TEXT("No game world"));
	}
	if (FindCharacter(World, Name))
	{
		return Errorf(FString::Printf(TEXT("Character %s already exists"), *Name));
	}

	FActorSpawnParameters Params;
	Params.Name = FName(*Name);
	Params.NameMode = FActorSpawnParameters::ESpawnActorNameMode::Requested;
	Params.SpawnCollisionHandlingOverride = ESpawnActorCollisionHandlingMethod::AlwaysSpawn;
	const FTransform Transform(FRotator(0.0, Yaw, 0.0), Feet);

	AActor* Actor = nullptr;
	// A Blueprint class path ends in _C ("/Game/Characters/BP_Hero.BP_Hero_C"); anything else is a skeletal mesh.
	if (Asset.EndsWith(TEXT("_C")))
	{
		UClass* Class = LoadClass<AActor>(nullptr, *Asset);
		if (!Class)
		{
			return Errorf(FString::Printf(TEXT("Blueprint class %s not found (cooked into the game?)"), *Asset));
		}
		Actor = World->SpawnActor<AActor>(Class, Transform, Params);
	}
	else
	{
		USkeletalMesh* SkeletalMesh = LoadObject<USkeletalMesh>(nullptr, *Asset);
		if (!SkeletalMesh)
		{
			return Errorf(FString::Printf(TEXT("Skeletal mesh %s not found (cooked into the game?)"), *Asset));
		}
		ASkeletalMeshActor* MeshActor = World->SpawnActor<ASkeletalMeshActor>(ASkeletalMeshActor::StaticClass(),
			Transform, Params);
		if (MeshActor)
		{
			USkeletalMeshComponent* Mesh = MeshActor->GetSkeletalMeshComponent();
			Mesh->SetMobility(EComponentMobility::Movable);
			Mesh->SetSkeletalMeshAsset(SkeletalMesh);
		}
		Actor = MeshActor;
	}
	if (!Actor)
	{
		return Errorf(FString::Printf(TEXT("Spawning %s failed"), *Asset));
	}
	if (Actor->GetName() != Name)  // UnrealCV finds objects by name: it must be exact
	{
		Actor->Destroy();
		return Errorf(FString::Printf(TEXT("The name %s is taken in this world"), *Name));
	}
	// The location is where the feet touch the ground; a Character's root is its capsule's centre.
	if (ACharacter* Character = Cast<ACharacter>(Actor))
	{
		const float HalfHeight = Character->GetCapsuleComponent()->GetScaledCapsuleHalfHeight();
		Character->SetActorLocation(Feet + FVector(0.0, 0.0, HalfHeight), false, nullptr, ETeleportType::TeleportPhysics);
	}
	Characters.Add(Name, Actor);
	return FExecStatus::OK();
}

FExecStatus FSynthCommands::SetAnimation(const TArray<FString>& Args)
{
	FString Error;
	USkeletalMeshComponent* Mesh = FindMesh(Args[0], Error);
	if (!Mesh)
	{
		return Errorf(Error);
	}
	UAnimSequence* Sequence = LoadObject<UAnimSequence>(nullptr, *Args[1]);
	if (!Sequence)
	{
		return Errorf(FString::Printf(TEXT("Animation sequence %s not found (cooked into the game?)"), *Args[1]));
	}
	if (Sequence->GetSkeleton() != Mesh->GetSkeletalMeshAsset()->GetSkeleton())
	{
		return Errorf(FString::Printf(TEXT("Animation %s does not use the skeleton of %s (retarget it in the editor)"),
			*Args[1], *Args[0]));
	}
	// Sequencer's way of posing a paused character: single-node playback, stopped, positioned explicitly.
	Mesh->PlayAnimation(Sequence, /*bLooping=*/false);
	UAnimSingleNodeInstance* Node = Mesh->GetSingleNodeInstance();
	if (!Node)
	{
		return Errorf(FString::Printf(TEXT("Character %s cannot play single animations"), *Args[0]));
	}
	Node->SetPlaying(false);
	Node->SetPosition(0.f, /*bFireNotifies=*/false);
	return FExecStatus::OK();
}

FExecStatus FSynthCommands::SetAnimationTime(const TArray<FString>& Args)
{
	FString Error;
	USkeletalMeshComponent* Mesh = FindMesh(Args[0], Error);
	if (!Mesh)
	{
		return Errorf(Error);
	}
	UAnimSingleNodeInstance* Node = Mesh->GetSingleNodeInstance();
	if (!Node || !Node->GetAnimationAsset())
	{
		return Errorf(FString::Printf(TEXT("Character %s has no animation (set it first)"), *Args[0]));
	}
	// The client wraps looping clips; times past the end clamp to the last pose.
	const float Time = FMath::Clamp(FCString::Atof(*Args[1]), 0.f, Node->GetLength());
	Node->SetPosition(Time, /*bFireNotifies=*/false);
	// Evaluate the pose now: the game is paused, so nothing would tick the component (REFERENCE §4).
	Mesh->TickAnimation(0.f, false);
	Mesh->RefreshBoneTransforms();
	Mesh->FinalizeBoneTransform();
	Mesh->MarkRenderTransformDirty();
	Mesh->MarkRenderDynamicDataDirty();
	return FExecStatus::OK();
}

FExecStatus FSynthCommands::GetBones(const TArray<FString>& Args)
{
	FString Error;
	USkeletalMeshComponent* Mesh = FindMesh(Args[0], Error);
	if (!Mesh)
	{
		return Errorf(Error);
	}
	FString Reply;
	for (int32 Index = 0; Index < Mesh->GetNumBones(); ++Index)
	{
		const FName Bone = Mesh->GetBoneName(Index);
		const FVector P = Mesh->GetBoneLocation(Bone, EBoneSpaces::WorldSpace);
		// one line per bone, four space-separated fields: bone names must not contain spaces
		Reply += FString::Printf(TEXT("%s %.4f %.4f %.4f\n"), *Bone.ToString().Replace(TEXT(" "), TEXT("_")),
			P.X, P.Y, P.Z);
	}
	return FExecStatus::OK(Reply);
}

FExecStatus FSynthCommands::DestroyCharacter(const TArray<FString>& Args)
{
	AActor* Actor = FindCharacter(GameWorld(), Args[0]);
	if (!Actor)
	{
		return Errorf(FString::Printf(TEXT("No character %s"), *Args[0]));
	}
	Characters.Remove(Args[0]);
	// Free the name at once (same outer, unique name) so that the next scene can spawn one of the same name.
	const FName Freed = MakeUniqueObjectName(Actor->GetOuter(), Actor->GetClass(), FName(*(Args[0] + TEXT("_Destroyed"))));
	Actor->Rename(*Freed.ToString(), nullptr, REN_DontCreateRedirectors | REN_NonTransactional);
	Actor->Destroy();
	return FExecStatus::OK();
}

// ------------------------------------------------------------------------------------------------------ cameras
FExecStatus FSynthCommands::SetLens(const TArray<FString>& Args)
{
	const int32 CameraId = FCString::Atoi(*Args[0]);
	const float FocalMm = FCString::Atof(*Args[1]);
	const float SensorWidthMm = FCString::Atof(*Args[2]);
	const float SensorHeightMm = FCString::Atof(*Args[3]);
	const float FNumber = FCString::Atof(*Args[4]);
	if (FocalMm <= 0.f || SensorWidthMm <= 0.f || SensorHeightMm <= 0.f || FNumber <= 0.f)
	{
		return Errorf(TEXT("Lens values must be positive: focal_mm sensor_width_mm sensor_height_mm f_number"));
	}
	UFusionCamSensor* Sensor = USensorBPLib::GetSensorById(CameraId);
	if (!Sensor)
	{
		return Errorf(FString::Printf(TEXT("Invalid camera id %d"), CameraId));
	}
	// Pinhole: horizontal FOV from the sensor width, as synth.geometry.horizontal_fov_deg.
	const float HorizontalFov = FMath::RadiansToDegrees(2.f * FMath::Atan(SensorWidthMm / (2.f * FocalMm)));
	Sensor->SetSensorFOV(HorizontalFov);
	// Motion blur off (exact per-frame poses); the aperture and sensor width feed depth of field where the map's
	// post-process volume enables it.
	Sensor->SetMotionBlurParams(0.f, 0.f, 0.f, 0);
	TArray<USceneComponent*> Children;
	Sensor->GetChildrenComponents(/*bIncludeAllDescendants=*/true, Children);
	for (USceneComponent* Child : Children)
	{
		if (USceneCaptureComponent2D* Capture = Cast<USceneCaptureComponent2D>(Child))
		{
			FPostProcessSettings& PP = Capture->PostProcessSettings;
			PP.bOverride_DepthOfFieldFstop = true;
			PP.DepthOfFieldFstop = FNumber;
			PP.bOverride_DepthOfFieldSensorWidth = true;
			PP.DepthOfFieldSensorWidth = SensorWidthMm;
		}
	}
	return FExecStatus::OK();
}
